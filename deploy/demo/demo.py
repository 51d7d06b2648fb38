"""make demo: post a handful of leads to the running stack (make run) and show where each went.

The leads tell the brief's two stories with the demo configuration (deploy/demo/rubric.yaml,
deploy/demo/org.yaml):

- the intent-led company: a UK prospect showing intent is hot and goes to a UK field rep;
  a US VP at a large software company grades A and goes to a US field rep; an agency lead
  goes to the agency team; a student is disqualified and a small company grades C: both
  are nurtured by marketing; the same person captured twice stays one lead;
- the webinar campaign: a marketing manager who registered for the webinar grades B and
  goes to inside sales, who call registrants beforehand;
- the collateral library: marketing drafts a case study for the US VP's segment and
  uploads its PDF, sales reviews it (publishing before the sales manager approves is
  refused), it is published, found for the lead, shared by the lead's rep, and the
  prospect opening the link is a view that re-scores the lead (a content download);
- the one-message check: marketing publishes the value proposition for that segment, three
  reps say theirs, and the one who is off message is named with the key terms they miss
  and the items to send them; a rep rates the case study and the upkeep report is shown.

Every run uses fresh emails and companies, so it can be repeated. Service URLs come from
LEADBRIDGE_CAPTURE_URL, LEADBRIDGE_SCORING_URL, LEADBRIDGE_ROUTING_URL and
LEADBRIDGE_CONTENT_URL (defaults: the ports of make run).
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from deploy.demo import caller
from deploy.demo.webinar import run_webinar

CAPTURE = os.environ.get("LEADBRIDGE_CAPTURE_URL", "http://127.0.0.1:8001").rstrip("/")
SCORING = os.environ.get("LEADBRIDGE_SCORING_URL", "http://127.0.0.1:8002").rstrip("/")
ROUTING = os.environ.get("LEADBRIDGE_ROUTING_URL", "http://127.0.0.1:8003").rstrip("/")
CONTENT = os.environ.get("LEADBRIDGE_CONTENT_URL", "http://127.0.0.1:8005").rstrip("/")
WAIT_S = float(os.environ.get("LEADBRIDGE_DEMO_WAIT_S", "20"))
def _with_source_key(key: str) -> Callable[[httpx.Request], None]:
    def hook(request: httpx.Request) -> None:
        if key and str(request.url).startswith(CAPTURE):  # capture only: no other service needs it
            request.headers["X-Api-Key"] = key
    return hook

View = dict[str, Any]


@dataclass
class Story:
    """One lead of the demo: what is posted, what happens next, and when it has settled."""

    label: str
    body: dict[str, Any]
    expect: str  # what the demo configuration should do with it, shown beside the outcome
    activities: list[str] = field(default_factory=list)  # behaviours posted after the lead
    settled: Callable[[View], bool] = lambda v: v["owner"] is not None
    lead_id: str = ""
    repeat_of: Story | None = None
    answer: dict[str, Any] = field(default_factory=dict)


def stories(run: str) -> list[Story]:
    """The demo leads. Points under deploy/demo/rubric.yaml are noted beside each."""

    def email(name: str, domain: str = "example.com") -> str:
        return f"{name}.{run}@{domain}"

    base = {"consent": True, "campaign": "demo"}
    # C on fit (manager 8 + operations 4, 50-199 staff 8, GB 10, intent feed 8 = 38), but a
    # capture from the intent feed counts as an intent signal (source_counts_as): hot at once,
    # grade A → "hot-intent-to-field", by territory, on the 1-hour hot-lead clock.
    uk_intent = Story("UK prospect showing intent", {
        **base, "email": email("olivia.hart"), "name": "Olivia Hart", "company": f"Northwind Logistics {run}",
        "title": "Operations Manager", "country": "GB", "company_size": 150, "industry": "logistics",
        "source": "intent_signal", "campaign": "intent-watch"},
        "hot → UK field rep", activities=["intent_signal"],
        settled=lambda v: v["owner"] is not None and v["owner"]["kind"] != "nurture")
    # VP 20 + marketing 10, 1000+ 20, software 10, US 10, web form 4 = 74 → A → field, US territory.
    us_vp = Story("US VP, large software company", {
        **base, "email": email("avery.adams"), "name": "Avery Adams", "company": f"Bigco Software {run}",
        "title": "VP Marketing", "country": "US", "company_size": 5000, "industry": "software",
        "source": "web_form"}, "A → US field rep")
    # Manager 8 + marketing 10, 50-199 8, software 10, US 10, webinar 6 = 52, registered +8 = 60 → B.
    webinar = Story("Webinar registrant", {
        **base, "email": email("blake.brown"), "name": "Blake Brown", "company": f"Midco Analytics {run}",
        "title": "Marketing Manager", "country": "US", "company_size": 120, "industry": "software",
        "source": "webinar", "campaign": "webinar-series-2026"},
        "B → inside sales (call before the webinar)", activities=["webinar_registered"])
    # Source agency → "agency-source-to-agency", whatever the grade.
    agency = Story("Agency lead", {
        **base, "email": email("riley.chen"), "name": "Riley Chen", "company": f"Brightside Creative {run}",
        "title": "Account Director", "country": "US", "company_size": 80, "industry": "advertising",
        "source": "agency", "campaign": "partner-program"}, "agency team")
    # "student" in the title and an .edu address disqualify, however big the university.
    student = Story("Student", {
        **base, "email": email("jamie.lowe", "state-university.edu"), "name": "Jamie Lowe",
        "company": f"State University {run}", "title": "MBA Student", "country": "US", "company_size": 20000,
        "industry": "education", "source": "web_form"}, "disqualified → nurture")
    # Manager 8 + sales 8, 1-49 2, US 10, web form 4 = 32 → C.
    small = Story("Small company", {
        **base, "email": email("casey.clark"), "name": "Casey Clark", "company": f"Smallco {run}",
        "title": "Sales Manager", "country": "US", "company_size": 20, "source": "web_form"}, "C → nurture")
    # The US VP again, from a badge scan at a trade show, email in capitals: the same person.
    again = Story("Same person, second capture", {
        **us_vp.body, "email": us_vp.body["email"].upper(), "source": "badge_scan", "campaign": "expo-2026"},
        "same lead id, one owner", settled=lambda v: v["owner"] is not None and v["capture_count"] >= 2,
        repeat_of=us_vp)
    return [uk_intent, us_vp, webinar, agency, student, small, again]


# --------------------------------------------------------------------------- talking to the stack


class StackDown(Exception):
    pass


def check_running(client: httpx.Client) -> None:
    for name, url in (("capture", CAPTURE), ("scoring", SCORING), ("routing", ROUTING), ("content", CONTENT)):
        try:
            r = client.get(url + "/healthz", timeout=3)
        except httpx.HTTPError as exc:
            raise StackDown(f"{name} is not answering at {url} ({type(exc).__name__})") from None
        if r.status_code != 200:
            raise StackDown(f"{name} at {url} is not ready (/healthz answered {r.status_code}: {r.text[:200]})")


def wait_for_campaigns(client: httpx.Client, wanted: set[str], timeout_s: float = 15) -> None:
    """Capture refuses a lead naming a campaign it has not heard of: wait until it has
    heard of the demo's (deploy/demo/seed.py defines them in nurture)."""
    deadline = time.monotonic() + timeout_s
    while True:
        known = {c["campaign_id"] for c in client.get(CAPTURE + "/v1/campaigns").json()}
        if wanted <= known or time.monotonic() > deadline:
            if not wanted <= known:
                print(f"[demo] capture does not know campaigns {sorted(wanted - known)}: run deploy/demo/seed.py",
                      file=sys.stderr)
            return
        time.sleep(0.3)


def post_story(client: httpx.Client, story: Story) -> None:
    r = client.post(CAPTURE + "/v1/leads", json=story.body)
    if r.status_code != 202:
        raise RuntimeError(f"POST /v1/leads for {story.label!r} answered {r.status_code}: {r.text}")
    story.answer = r.json()
    story.lead_id = story.answer["lead_id"]
    for behaviour in story.activities:
        r = client.post(f"{CAPTURE}/v1/leads/{story.lead_id}/activities",
                        json={"behaviour": behaviour, "campaign": story.body.get("campaign")})
        if r.status_code != 202:
            raise RuntimeError(f"POST activity {behaviour} for {story.label!r} answered {r.status_code}: {r.text}")


def lead_view(client: httpx.Client, lead_id: str) -> View | None:
    r = client.get(f"{CAPTURE}/v1/leads/{lead_id}")
    return r.json() if r.status_code == 200 else None


def wait_settled(client: httpx.Client, items: list[Story], timeout_s: float) -> dict[str, View | None]:
    """Poll each lead until it has settled (usually: has an owner) or the time is up."""
    views: dict[str, View | None] = {}
    pending = list(items)
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        for story in list(pending):
            view = lead_view(client, story.lead_id)
            views[story.label] = view
            if view is not None and story.settled(view):
                pending.remove(story)
        if pending:
            time.sleep(0.3)
    return views


def get_json(client: httpx.Client, url: str) -> Any:
    try:
        r = client.get(url)
    except httpx.HTTPError:
        return None
    return r.json() if r.status_code == 200 else None


# --------------------------------------------------------------------------- showing it


def when(iso: str | None) -> str:
    """A due time as 'Mon 30 Nov 14:30 UTC (in 2d 3h)'."""
    if not iso:
        return "-"
    due = datetime.fromisoformat(iso).astimezone(UTC)
    left = (due - datetime.now(UTC)).total_seconds()
    days, rest = divmod(int(abs(left)), 86400)
    hours, rest = divmod(rest, 3600)
    span = f"{days}d {hours}h" if days else f"{hours}h {rest // 60:02d}m"
    return f"{due:%a %d %b %H:%M} UTC ({'in ' + span if left >= 0 else span + ' ago'})"


def owner_text(view: View | None, reps: dict[str, dict[str, Any]]) -> str:
    if view is None:
        return "(not visible on capture)"
    owner = view["owner"]
    if owner is None:
        return "(no owner yet)"
    if owner["kind"] == "nurture":
        return "nurture (marketing)"
    if owner["kind"] == "queue":
        return f"queue: {owner['team']}"
    rep = reps.get(owner["rep_id"] or "", {})
    name = f" {rep['name']}" if rep.get("name") else ""
    return f"{owner['rep_id']}{name} ({owner['team']})"


def reason_text(view: View | None, score: View | None) -> str:
    """An override (hot, disqualified) if there is one, else the biggest contribution."""
    overrides = (score or {}).get("overrides") or []
    if overrides:
        return " + ".join(str(o.get("rule")) for o in overrides) + " (overrides the score)"
    if not view or not view.get("top_reasons"):
        return "-"
    top = view["top_reasons"][0]
    return f"{top['rule']} {top['points']:+g}"


def notes_for(story: Story, view: View | None, routing: View | None, reps: dict[str, dict[str, Any]]) -> list[str]:
    """What a reader should know beyond the table: queued because reps are off-hours, a rep
    who is off-hours now, a lead that moved from nurture back to sales."""
    notes: list[str] = []
    if view is None:
        return [f"{story.label}: capture does not show the lead {story.lead_id}"]
    owner = view["owner"]
    if owner is None:
        return [f"{story.label}: no owner after {WAIT_S:.0f}s (is scoring/routing running? see var/log/)"]
    if not story.settled(view):
        notes.append(f"{story.label}: not where the story expects after {WAIT_S:.0f}s (expected: {story.expect})")
    decisions = (routing or {}).get("decisions", [])
    if owner["kind"] == "queue":
        last = decisions[-1] if decisions else {}
        off_hours = [c["rep_id"] for c in last.get("candidates", []) if c.get("skipped") == "outside_working_hours"]
        if off_hours:
            notes.append(f"{story.label}: queued at {owner['team']} because its reps are outside working hours "
                         f"now ({', '.join(off_hours)}); it waits in the team's queue, on the team's clock")
        else:
            notes.append(f"{story.label}: queued at {owner['team']}: {last.get('reason', 'no rep could take it')}")
    elif owner["kind"] == "rep" and story.repeat_of is None:
        rep = reps.get(owner["rep_id"] or "")
        if rep is not None and rep.get("working") is False:
            notes.append(f"{story.label}: {owner['rep_id']} is outside working hours now, so the follow-up clock "
                         "runs from the start of their next working day (hence the due time)")
    if len(decisions) > 1:
        path = " → ".join(f"{d.get('rep_id') or d.get('team') or d.get('owner_kind')} ({d.get('trigger')})"
                          for d in decisions)
        notes.append(f"{story.label}: routed {len(decisions)} times: {path}")
    if story.repeat_of is not None:
        same = story.lead_id == story.repeat_of.lead_id
        notes.append(f"{story.label}: {'same' if same else 'DIFFERENT'} lead id as {story.repeat_of.label!r} "
                     f"({story.lead_id}); captured {view['capture_count']} times from {', '.join(view['sources'])}; "
                     f"repeat={story.answer.get('repeat')}")
    return notes


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    fmt = "  ".join(f"{{:{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), line, *(fmt.format(*r) for r in rows)])


def show_detail(client: httpx.Client, story: Story) -> None:
    score = get_json(client, f"{SCORING}/v1/leads/{story.lead_id}/score")
    print(f"\nScore ledger of {story.body['name']} ({story.label}), GET {SCORING}/v1/leads/{story.lead_id}/score")
    if score is None:
        print("  (scoring has no ledger for this lead)")
    else:
        flags = [f for f in ("hot", "disqualified") if score.get(f)]
        print(f"  score {score['score']:g} = fit {score['fit_score']:g} + engagement {score['engagement_score']:g}"
              f" → grade {score['grade']}{' (' + ', '.join(flags) + ')' if flags else ''}, segment "
              f"{score['segment']}, rubric {score['rubric_version']}")
        for line in score.get("ledger", []):
            evidence = f"  [evidence {line['evidence'][:8]}]" if line.get("evidence") else ""
            print(f"  {line['points']:>+7.2f}  {line['rule']}{evidence}")
        for o in score.get("overrides", []):
            print(f"  override: {o.get('rule')}  [evidence {str(o.get('evidence'))[:8]}]")
    routing = get_json(client, f"{ROUTING}/v1/leads/{story.lead_id}/routing")
    print(f"\nRouting of {story.body['name']}, GET {ROUTING}/v1/leads/{story.lead_id}/routing")
    if routing is None:
        print("  (routing has no decision for this lead)")
        return
    for d in routing.get("decisions", []):
        print(f"  {d.get('decided_at', '')[:19]}  {d.get('trigger')}: rule '{d.get('rule')}' → "
              f"{d.get('rep_id') or d.get('team') or d.get('owner_kind')}  ({d.get('reason')})")
        for c in d.get("candidates", []):
            skip = f"skipped: {c['skipped']}" + (f" ({c['detail']})" if c.get("detail") else "") \
                if c.get("skipped") else "eligible"
            print(f"      {c['rep_id']:10} {skip}")
        if d.get("due_at"):
            print(f"      due {when(d['due_at'])}")


def show_grades(client: httpx.Client) -> None:
    """Every campaign's leads by grade (all runs so far), as marketing asks of a trade show."""
    print(f"\nLeads by grade per campaign (all demo runs so far), GET {SCORING}/v1/grades?by=campaign")
    body = get_json(client, f"{SCORING}/v1/grades?by=campaign")
    if not body:
        print("  (scoring has no grades yet)")
        return
    rows = [[str(g["key"] or "(none)"), *(str(g["grades"][k]) for k in "ABCD"), str(g["total"])]
            for g in body["groups"]]
    print(table(rows, ["campaign", "A", "B", "C", "D", "leads"]))


MARKETING = {"id": "marketing@leadbridge.example", "role": "marketing"}
FIELD_REP = {"id": "us-am-2", "role": "field_rep"}
SALES_MANAGER = {"id": "sales-manager@leadbridge.example", "role": "sales_manager"}


def show_collateral(client: httpx.Client, story: Story, view: View | None, run: str) -> str | None:
    """The collateral library for one lead: drafted, reviewed, published, found, shared,
    viewed; returns the item's id."""
    from services.content.tests.samples import pdf  # a real one-page PDF, made on the spot

    print(f"\nCollateral for {story.body['name']} ({story.label}), on {CONTENT}")
    segment = (view or {}).get("segment")
    if not segment:
        print("  (the lead has no segment yet)")
        return None

    def step(what: str, r: httpx.Response, ok: int = 200) -> Any:
        body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
        if r.status_code != ok:
            raise RuntimeError(f"{what} answered {r.status_code}: {r.text[:300]}")
        return body

    title = f"How Bigco-sized software companies cut onboarding time ({run})"
    item = step("POST /v1/collateral", client.post(CONTENT + "/v1/collateral", json={
        "title": title, "kind": "case_study", "summary": "Three enterprise software rollouts in 90 days",
        "segments": [segment], "stages": ["decision"], "owner": MARKETING["id"], "actor": MARKETING}), 201)
    item_id = item["item_id"]
    base = f"{CONTENT}/v1/collateral/{item_id}"
    version = step("upload", client.post(base + "/versions", files={"file": (
        "case-study.pdf", pdf(f"Enterprise onboarding in 90 days, case study {run}"), "application/pdf")},
        data={"actor_id": MARKETING["id"], "actor_role": MARKETING["role"]}), 201)
    print(f"  1. marketing drafted '{title}' for segment {segment} and uploaded version {version['version']} "
          f"(PDF, {version['size_bytes']} bytes, sha256 {version['sha256'][:12]}…, {version['text_chars']} chars "
          "of text extracted)")
    step("submit", client.post(base + "/submit", json={"actor": MARKETING, "reviewers": [FIELD_REP, SALES_MANAGER]}))
    step("approve", client.post(base + "/reviews", headers=caller.headers(FIELD_REP["id"]),
                                json={"actor": FIELD_REP, "decision": "approve",
                                      "comment": "Matches what my prospects ask"}))
    print(f"  2. sent for review to {FIELD_REP['id']} (field rep) and {SALES_MANAGER['id']} (sales manager); "
          "the field rep approved")
    early = client.post(base + "/publish", json={"actor": MARKETING})
    problems = "; ".join(f"{f['field']}: {f['reason']}" for f in early.json().get("fields", [])[1:])
    print(f"  3. publishing now is refused: {early.status_code} ({problems})")
    step("approve", client.post(base + "/reviews", headers=caller.headers(SALES_MANAGER["id"]),
                                json={"actor": SALES_MANAGER, "decision": "approve"}))
    published = step("publish", client.post(base + "/publish", json={"actor": MARKETING}))
    print(f"  4. the sales manager approved; published version {published['published_version']}, "
          f"retires {when(published['retire_at'])}")
    found = step("for lead", client.get(f"{CONTENT}/v1/leads/{story.lead_id}/collateral", params={"stage": "decision"}))
    hits = step("search", client.get(CONTENT + "/v1/collateral", params={"q": f"onboarding {run}"}))["items"]
    print(f"  5. GET /v1/leads/{story.lead_id}/collateral?stage=decision finds {len(found['items'])} item(s), "
          f"this one {'among them' if item_id in [i['item_id'] for i in found['items']] else 'MISSING'}; "
          f"a search for the PDF's text finds {len(hits)}")
    owner = ((view or {}).get("owner") or {}).get("rep_id") or FIELD_REP["id"]
    before = get_json(client, f"{SCORING}/v1/leads/{story.lead_id}/score") or {}
    shared = step("share", client.post(base + "/shares", json={"lead_id": story.lead_id, "rep_id": owner}), 201)
    opened = client.get(CONTENT + shared["link"])
    print(f"  6. {owner} shared it: {CONTENT}{shared['link'][:40]}…; the prospect opened it "
          f"({opened.status_code}, {opened.headers.get('content-type')}, {len(opened.content)} bytes)")
    deadline = time.monotonic() + WAIT_S
    after = before
    while time.monotonic() < deadline:
        after = get_json(client, f"{SCORING}/v1/leads/{story.lead_id}/score") or {}
        if after.get("engagement_score", 0) > before.get("engagement_score", 0):
            break
        time.sleep(0.3)
    usage = (get_json(client, base) or {}).get("usage")
    print(f"  7. usage {usage}; the view reached scoring as a content download: engagement "
          f"{before.get('engagement_score', 0):g} → {after.get('engagement_score', 0):g}, score "
          f"{before.get('score', 0):g} → {after.get('score', 0):g} (grade {after.get('grade')})")
    print(f"     history: GET {base}/history")
    return str(item_id)


ONE_MESSAGE = ("Leadbridge gives sales and marketing one grading standard: every lead is scored against one "
               "agreed rubric, routed to the right rep within seconds and nurtured until it is ready, so no lead "
               "is lost and budget follows closed revenue.")
REP_ANSWERS = [
    ("us-am-1", "field", "Sales and marketing grade every lead against one agreed rubric, and the right rep gets "
                         "it within seconds, so no lead is lost."),
    ("us-am-2", "field", "One grading standard for both teams: leads are scored on the agreed rubric, routed in "
                         "seconds, nurtured until ready; budget follows closed revenue."),
    ("inside-1", "inside_sales", "We are cheaper than any CRM and our mobile app is great."),
]


def show_one_message(client: httpx.Client, segment: str | None, item_id: str | None) -> None:
    """The one-message check for the segment, two reps' ratings of the case study, and the upkeep report."""
    print(f"\nOne message for segment {segment}, on {CONTENT}")
    if not segment:
        print("  (the lead has no segment yet)")
        return
    vp = client.post(f"{CONTENT}/v1/value-propositions/{segment}",
                     json={"text": ONE_MESSAGE, "author": MARKETING["id"]})
    if vp.status_code != 201:
        print(f"  publishing the value proposition answered {vp.status_code}: {vp.text[:300]}")
        return
    print(f"  1. marketing published the value proposition, version {vp.json()['version']}: \"{ONE_MESSAGE[:60]}…\"")
    for rep, team, text in REP_ANSWERS:
        client.post(f"{CONTENT}/v1/value-propositions/{segment}/answers", json={"rep_id": rep, "team": team,
                                                                                 "text": text})
    print(f"  2. {len(REP_ANSWERS)} reps answered \"what is your value proposition?\"")
    (report,) = client.get(f"{CONTENT}/v1/reports/one-message", params={"segment": segment}).json()["segments"]
    print(f"  3. consistency {report['consistency']:.2f} overall; the message's key terms: "
          f"{', '.join(report['key_terms'])}")
    for team in report["teams"]:
        scores = ", ".join(f"{a['rep_id']} {a['consistency']:.2f}" for a in team["answers"])
        print(f"     team {team['team']}: {team['consistency']:.2f} ({scores})")
        for o in team["outliers"]:
            send = "; ".join(f"'{i['title']}'" for i in o["send"]) or "nothing published for the segment yet"
            print(f"     OFF MESSAGE: {o['rep_id']} misses {', '.join(o['missing_terms'])}; send: {send}")
    if item_id is not None:
        for rep, stars, comment in (("us-am-1", 2, "the figures are last year's"), ("us-am-2", 3, "")):
            client.post(f"{CONTENT}/v1/collateral/{item_id}/ratings", json={"rep_id": rep, "rating": stars,
                                                                             "comment": comment})
    upkeep = client.get(f"{CONTENT}/v1/reports/upkeep").json()
    print(f"  4. two reps rated the case study 2 and 3; the upkeep report: {len(upkeep['revise'])} to revise "
          f"(low ratings), {len(upkeep['prune'])} to "
          f"prune (unused {upkeep['thresholds']['unused_days']} days), {len(upkeep['expand'])} segments or stages "
          f"to expand: GET {CONTENT}/v1/reports/upkeep; effectiveness: GET {CONTENT}/v1/reports/effectiveness")


def main() -> int:
    run = uuid.uuid4().hex[:6]
    with httpx.Client(timeout=10, headers=caller.headers(),
                      event_hooks={"request": [_with_source_key(caller.source_key())]}) as client:
        try:
            check_running(client)
        except StackDown as exc:
            print(f"[demo] {exc}.\n[demo] Is Leadbridge running? Start it with `make run` (in another terminal), "
                  "then run `make demo` again.", file=sys.stderr)
            return 1
        items = stories(run)
        wait_for_campaigns(client, {str(s.body["campaign"]) for s in items if s.body.get("campaign")})
        print(f"[demo] posting {len(items)} leads to {CAPTURE} (run {run})")
        for story in items:
            post_story(client, story)
            extra = f" + {', '.join(story.activities)}" if story.activities else ""
            print(f"  {story.label:30} → {story.lead_id}{extra}")
        print(f"[demo] waiting up to {WAIT_S:.0f}s for scoring and routing")
        started = time.monotonic()
        views = wait_settled(client, items, WAIT_S)
        print(f"[demo] settled in {time.monotonic() - started:.1f}s\n")
        reps = {r["rep_id"]: r for r in (get_json(client, ROUTING + "/v1/reps") or {}).get("reps", [])}
        rows, notes = [], []
        for story in items:
            view = views.get(story.label)
            routing = get_json(client, f"{ROUTING}/v1/leads/{story.lead_id}/routing")
            score = get_json(client, f"{SCORING}/v1/leads/{story.lead_id}/score")
            grade = f"{view['grade']} ({view['score']:g})" if view and view.get("grade") else "-"
            rows.append([story.label, story.body["name"], grade, (view or {}).get("segment") or "-",
                         owner_text(view, reps), when(((view or {}).get("owner") or {}).get("due_at")),
                         reason_text(view, score), story.expect])
            notes += notes_for(story, view, routing, reps)
        print(table(rows, ["story", "name", "grade (score)", "segment", "owner", "due", "top reason",
                           "expected"]))
        if notes:
            print("\nNotes:")
            for note in notes:
                print(f"  - {note}")
        show_detail(client, items[0])
        show_grades(client)
        case_study = show_collateral(client, items[1], views.get(items[1].label), run)
        show_one_message(client, (views.get(items[1].label) or {}).get("segment"), case_study)
        run_webinar(client, run)
        print(f"\n[demo] each lead in full: GET {CAPTURE}/v1/leads/<lead_id> (timeline included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
