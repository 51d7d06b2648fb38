"""Seed the demo collateral library (content service) once; safe to run again."""

from __future__ import annotations

import os
import sys

import httpx

CONTENT = os.environ.get("LEADBRIDGE_CONTENT_URL", "http://127.0.0.1:8005")

ITEMS = [
    {"title": "Why agencies switch to us: three case studies", "kind": "case_study",
     "url": "https://collateral.example/agency-cases.pdf", "segments": ["agency"], "stages": ["consideration"],
     "owner": "marketing@leadbridge.example"},
    {"title": "One-page value proposition (enterprise)", "kind": "value_proposition",
     "url": "https://collateral.example/enterprise-vp.pdf", "segments": [], "stages": ["awareness"],
     "owner": "marketing@leadbridge.example"},
    {"title": "ROI proof points for mid-market buyers", "kind": "proof_point",
     "url": "https://collateral.example/roi.pdf", "segments": [], "stages": ["decision"],
     "owner": "marketing@leadbridge.example"},
]


def main() -> int:
    with httpx.Client(base_url=CONTENT, timeout=10) as client:
        existing = {i["title"] for i in client.get("/v1/collateral").json()["items"]}
        added = 0
        for item in ITEMS:
            if item["title"] not in existing:
                client.post("/v1/collateral", json=item).raise_for_status()
                added += 1
    print(f"[seed] collateral: {added} added, {len(ITEMS) - added} already there")
    return 0


if __name__ == "__main__":
    sys.exit(main())
