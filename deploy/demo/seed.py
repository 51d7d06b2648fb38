"""Seed the demo collateral library (content service) and the demo's campaigns
(nurture; capture refuses a lead naming a campaign nobody defined) once; safe to run again.
The collateral items are drafts (make demo takes one through review to publication); they
carry no segment tag, since content learns segments from graded leads and none is graded yet."""

from __future__ import annotations

import os
import sys

import httpx

from deploy.demo import caller

CONTENT = os.environ.get("LEADBRIDGE_CONTENT_URL", "http://127.0.0.1:8005")
NURTURE = os.environ.get("LEADBRIDGE_NURTURE_URL", "http://127.0.0.1:8004")

_YEAR = {"owner": "marketing@leadbridge.example", "starts_at": "2026-01-01T00:00:00+00:00",
         "ends_at": "2026-12-31T23:59:59+00:00"}
CAMPAIGNS = [
    {"campaign_id": "demo", "name": "Demo web forms", "type": "content", "cost": "0", **_YEAR},
    {"campaign_id": "intent-watch", "name": "Intent watch", "type": "intent_watch", "cost": "12000", **_YEAR},
    {"campaign_id": "webinar-series-2026", "name": "Webinar series: winning back large clients", "type": "webinar",
     "cost": "6000", "goal": "two new large clients", **_YEAR,
     "event": {"starts_at": "2026-12-10T11:00", "ends_at": "2026-12-10T12:00", "time_zone": "America/Chicago",
               "registration_url": "https://events.leadbridge.example/winback"}},
    {"campaign_id": "partner-program", "name": "Agency partner programme", "type": "partner", "cost": "3000", **_YEAR},
    {"campaign_id": "expo-2026", "name": "Expo 2026", "type": "trade_show", "cost": "25000", **_YEAR,
     "event": {"starts_at": "2026-11-20T09:00", "ends_at": "2026-11-22T18:00", "time_zone": "Europe/Berlin"}},
]
MARKETING = {"id": "marketing@leadbridge.example", "role": "marketing"}

ITEMS = [
    {"title": "Why agencies switch to us: three case studies", "kind": "case_study",
     "url": "https://collateral.example/agency-cases.pdf", "segments": [], "personas": ["agency owner"],
     "stages": ["consideration"],
     "owner": "marketing@leadbridge.example"},
    {"title": "One-page value proposition (enterprise)", "kind": "value_proposition",
     "url": "https://collateral.example/enterprise-vp.pdf", "segments": [], "stages": ["awareness"],
     "owner": "marketing@leadbridge.example"},
    {"title": "ROI proof points for mid-market buyers", "kind": "proof_point",
     "url": "https://collateral.example/roi.pdf", "segments": [], "stages": ["decision"],
     "owner": "marketing@leadbridge.example"},
]


def main() -> int:
    with httpx.Client(base_url=CONTENT, timeout=10, headers=caller.headers()) as client:
        existing = {i["title"] for i in client.get("/v1/collateral").json()["items"]}
        added = 0
        for item in ITEMS:
            if item["title"] not in existing:
                client.post("/v1/collateral", json={**item, "actor": MARKETING}).raise_for_status()
                added += 1
    print(f"[seed] collateral: {added} added, {len(ITEMS) - added} already there")
    with httpx.Client(base_url=NURTURE, timeout=10, headers=caller.headers()) as client:
        defined = 0
        for campaign in CAMPAIGNS:
            r = client.post("/v1/campaigns", json=campaign)
            if r.status_code not in (201, 409):
                r.raise_for_status()
            defined += r.status_code == 201
    print(f"[seed] campaigns: {defined} defined, {len(CAMPAIGNS) - defined} already there")
    return 0


if __name__ == "__main__":
    sys.exit(main())
